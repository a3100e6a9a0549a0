# An `escape`-like helper (builtins.escape does not exist in 2.8).
let escape = chars: builtins.replaceStrings chars (map (c: "\\${c}") chars); in
escape [ "\"" "$" ] ''say "hi" to $USER''
