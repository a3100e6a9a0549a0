# A file whose value is only a throw; importing is fine as long as it is not forced.
throw "lib/throws-on-import.nix was forced"
