# Unquoted URIs are string literals.
[ http://example.org/foo?bar=1 mailto:x@example.org (builtins.typeOf https://nixos.org) ]
