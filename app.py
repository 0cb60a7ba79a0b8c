"""The ``trm demo`` page as a Hugging Face Space, which runs this file (README: "Try it in a
browser"). Gradio reads the address and port a Space gives it from its environment."""

from trm.demo import build_app, launch

launch(build_app())
