map builtins.fromJSON [ "true" "null" "\"s\"" "[]" "{}" "false" ]
