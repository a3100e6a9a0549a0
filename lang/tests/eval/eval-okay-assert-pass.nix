assert 1 + 1 == 2; assert true; "assertions passed"
