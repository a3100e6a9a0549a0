[ "quote \" backslash \\ newline \n tab \t cr \r dollar-brace \${ plain $ brace {" ]
