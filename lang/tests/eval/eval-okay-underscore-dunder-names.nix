let __x = 1; _y = 2; a' = 3; b-c = 4; in [ __x _y a' b-c ]
