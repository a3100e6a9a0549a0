# corpus: json
({ a, b }: a + b) { a = 1; b = 2; }
