# corpus: json
[ "héllo" "日本" "emoji 🎉" (builtins.stringLength "héllo") (builtins.stringLength "日本") ]
