
r1Hello there*	333?(@2
: