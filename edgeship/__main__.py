import sys

from edgeship.cli import entry

sys.exit(entry())
