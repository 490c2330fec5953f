"""`python -m ghibli_core.cli ...` runs `ghibli-anim ...`."""
import sys

from . import main

sys.exit(main())
