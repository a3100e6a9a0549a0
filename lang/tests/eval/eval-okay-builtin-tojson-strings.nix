# corpus: json
map builtins.toJSON [ "quote\"" "back\\slash" "nl\n" "tab\t" "cr\r" (builtins.fromJSON ''"ctrl\u0001\u001f"'') "unicode é 日本" "slash/" "dollar\${" ]
