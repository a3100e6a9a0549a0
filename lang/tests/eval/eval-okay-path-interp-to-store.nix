# Interpolating a path into a string copies the file to the store; the store
# path only depends on the name and the contents.
"${./data/hello.txt}"
