<no-such-entry-on-the-search-path>
