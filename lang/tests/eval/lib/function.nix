# imported by tests; a function
{ a, b ? 2 }: a * b
