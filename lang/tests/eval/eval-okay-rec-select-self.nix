(rec { a = 3; b = a * a; c = { d = b; }; }).c.d
