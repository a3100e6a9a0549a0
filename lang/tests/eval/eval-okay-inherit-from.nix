let src = { x = 1; y = 2; z = 3; }; in { inherit (src) x z; }
