# import also accepts a string holding an absolute path.
(import (toString ./lib/simple.nix)).name
