"hello from the search path"
