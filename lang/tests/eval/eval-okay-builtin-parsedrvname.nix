# corpus: json
map builtins.parseDrvName [ "nix-0.12pre12876" "a-b-c-1.0" "hello" "foo-bar" "python3.10-requests-2.28.1" "x-1" "-1.0" "name-" ]
