# corpus: json
import ./lib/simple.nix
