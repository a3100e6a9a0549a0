{ f = x: x; g = { a, b ? 1 }: a; h = args@{ ... }: args; }
