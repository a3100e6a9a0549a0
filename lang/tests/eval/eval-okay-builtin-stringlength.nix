[ (builtins.stringLength "") (builtins.stringLength "abc") (builtins.stringLength "é") (builtins.stringLength "🎉") (builtins.stringLength "a\nb") (builtins.stringLength "${toString 12345}") ]
