psql <<SQL
DROP TABLE users;
SQL