# corpus: json
map builtins.fromJSON [ ''"\u00e9"'' ''"\u65e5\u672c"'' ''"\ud83c\udf89"'' ''"\n\t\"\\\/"'' ''"raw é"'' ''"\u0041\u0042"'' ]
