let s = { p = "p"; q = "q"; }; in with s; p + q
