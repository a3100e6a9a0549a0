# corpus: json
map dirOf [ "a/b/c" "a/b/" "/" "" "noslash" "/abs/file.txt" "/top" "a//b" ]
