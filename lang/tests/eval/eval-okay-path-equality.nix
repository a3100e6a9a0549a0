[ (./data == ./data) (./data/hello.txt == ./data/../data/hello.txt) (./data == ./lib) (./a < ./b) (toString ./data == toString ./data) ]
