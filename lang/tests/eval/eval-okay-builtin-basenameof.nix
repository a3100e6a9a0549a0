# corpus: json
map baseNameOf [ "a/b/c" "a/b/" "/" "" "noslash" "/abs/file.txt" "a//b" "trailing//" ]
