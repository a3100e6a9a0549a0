# corpus: json
builtins.fromJSON ''{"a": 1, "b": [true, false, null], "c": "str", "d": {"e": {}}, "f": []}''
