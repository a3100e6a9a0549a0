let self = { a = 1; b = self.a + 1; c = self; }; in [ self.b self.c.c.c.a ]
