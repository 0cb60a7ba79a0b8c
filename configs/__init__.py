"""Training recipes (``*.yaml``) and their parts (``model/``, ``task/``), installed as the data
package ``trm_configs`` so that ``trm train RECIPE_NAME`` works without a clone."""
