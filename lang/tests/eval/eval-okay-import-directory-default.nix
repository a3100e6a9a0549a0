import ./lib/dir-import
