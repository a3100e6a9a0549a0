n: n * 3
