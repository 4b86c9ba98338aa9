ls -la
cd ~/projects/webapp
export OPENAI_API_KEY=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
curl -H "Authorization: Bearer xoxb-846643990989-0613017105575-ntDT7T7cPZgGFfmn08ZmRif7" https://slack.com/api/chat.postMessage
psql postgres://admin:tPMg9bHIYLNIck=WQt@db.prod.internal:5432/app
mysql -u root -p
git push origin main
export ANTHROPIC_API_KEY=sk-ant-api03-wskN-1FaBXCK6Emyz9q2jzUNsLhmXMy7OA8WsTATQQDyWqBPTm70VwvCoE_cgLd7_L_cieoRZwFBfsFLmoSAtjQ-RY5hpAA
fly deploy --access-token "FlyV1 fm2_w7iYV2FLGSG5SIcVNJisaqNr4lVLsOOVkRm1rn5GidHGsM7dmhA6eKPkrJKiSQ4pvnW7A3TtdjmJGATJZ4VdhuP8D9P2/UlrpUB2AiNtW+Wb+TjWNJyXYbxRboLoZha7zRDTp/co8hmy"
cargo test --workspace
