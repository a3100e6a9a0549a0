let src = { "a-b" = 1; "c d" = 2; }; in { inherit (src) "a-b" "c d"; }
