let f = args@{ a, b ? args.a + 1 }: b; in f { a = 41; }
