// Validates Adaptive Card JSON files with Microsoft's own Adaptive Cards
// library (adaptivecards.min.js beside this file, from the npm package
// adaptivecards): it parses each card as a host does and then runs the
// library's validation. Prints one line per problem, "FILE\tEVENT\tMESSAGE",
// and exits 1 when there is any. Used by bot/teams/cards' TestCardsValidate.
const AC = require(process.argv[2]);
const fs = require('fs');
let bad = 0;
for (const f of process.argv.slice(3)) {
  const json = JSON.parse(fs.readFileSync(f, 'utf8'));
  const ctx = new AC.SerializationContext();
  const card = new AC.AdaptiveCard();
  card.parse(json, ctx);
  const report = (e) => { console.log(f + '\t' + AC.ValidationEvent[e.event] + '\t' + e.message); bad++; };
  for (let i = 0; i < ctx.eventCount; i++) report(ctx.getEventAt(i));
  for (const e of card.validateProperties().validationEvents) report(e);
}
process.exit(bad ? 1 : 0);
