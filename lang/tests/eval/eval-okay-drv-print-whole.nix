# Printing a derivation with --strict prints every attribute; the self
# references (out, all) come out as «repeated».
derivation { name = "whole"; system = "x86_64-linux"; builder = "/bin/sh"; }
