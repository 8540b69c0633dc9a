import sys

from engine.main import main

sys.exit(main())
