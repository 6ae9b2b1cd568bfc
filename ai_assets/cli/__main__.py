import sys

from ai_assets.cli import main

sys.exit(main())
