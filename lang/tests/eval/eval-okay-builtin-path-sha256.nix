# With a sha256 (recursive NAR hash) the path can be given as a fixed output.
builtins.path { path = ./data/hello.txt; sha256 = "0y3jjgb4ic1k6dd9gqm0wpd8ychcidysyy8znx4m9f7h22zy96h5"; recursive = false; }
