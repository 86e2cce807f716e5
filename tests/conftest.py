"""Test-suite settings: the lowering checks its postcondition on every node it lowers."""

import lazyein.lower

lazyein.lower.CHECK_PLACEMENT = True
