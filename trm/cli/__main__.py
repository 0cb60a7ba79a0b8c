"""``python -m trm.cli`` (what ``torchrun ... -m trm.cli train ...`` runs)."""

import sys

from trm.cli import main

sys.exit(main())
