{ simple = 1; "with space" = 2; "1digit" = 3; "dash-ok" = 4; "_under" = 5; "it's" = 6; "" = 7; "dot.ted" = 8; "quote\"d" = 9; }
