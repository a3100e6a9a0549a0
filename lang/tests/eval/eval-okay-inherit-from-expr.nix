{ inherit ({ a = 1; b = 2; } // { b = 20; }) a b; }
