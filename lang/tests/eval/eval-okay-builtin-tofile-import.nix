# corpus: read-write
import (builtins.toFile "expr.nix" "{ x = 1 + 2; }")
