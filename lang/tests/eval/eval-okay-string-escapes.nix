# corpus: json
[ "tab\there" "nl\nhere" "cr\rhere" "quote\"here" "backslash\\here" "dollar\${x}" "\a\b\z" "$" "$$" "a$b" "\$" ]
