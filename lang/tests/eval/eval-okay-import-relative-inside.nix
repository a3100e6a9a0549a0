# Paths in an imported file are relative to the imported file.
import ./lib/uses-relative.nix
