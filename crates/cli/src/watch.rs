//! `holdpoint watch`: a live terminal view of the holds waiting for a decision, with keys to
//! approve, deny or cancel the selected one (each still asks for the approver's token).

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::{Result, bail};
use holdpoint_store::{Decision, Hold, HoldState, unix_now};
use ratatui::Frame;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind};
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Paragraph, Row, Table, TableState, Wrap};

use crate::approvals;
use crate::engines::Engines;
use crate::home::Home;
use crate::state::State;

pub fn run(home: &Home) -> Result<u8> {
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        bail!("holdpoint watch needs a terminal; scripts can poll `holdpoint pending --json`");
    }
    let config = Engines::load_lazy(home)?.config().clone();
    let state = State::open(home, &config)?;
    let mut selected = 0usize;
    let mut message = String::from("a approve · d deny · c cancel · ↑↓ select · q quit");
    let mut terminal = ratatui::try_init()?;
    let outcome = loop {
        let now = unix_now();
        let holds = match state.run(state.store.pending(now)) {
            Ok(holds) => holds,
            Err(e) => break Err(e.into()),
        };
        selected = selected.min(holds.len().saturating_sub(1));
        if let Err(e) = terminal.draw(|f| render(f, &holds, selected, &message, now)) {
            break Err(e.into());
        }
        let key = match event::poll(Duration::from_millis(500))
            .and_then(|ready| if ready { event::read().map(Some) } else { Ok(None) })
        {
            Ok(Some(Event::Key(k))) if k.kind == KeyEventKind::Press => k.code,
            Ok(_) => continue,
            Err(e) => break Err(e.into()),
        };
        let decision = match key {
            KeyCode::Char('q') | KeyCode::Esc => break Ok(0),
            KeyCode::Up => {
                selected = selected.saturating_sub(1);
                continue;
            }
            KeyCode::Down => {
                selected += 1;
                continue;
            }
            KeyCode::Char('a') => Decision::Approve,
            KeyCode::Char('d') => Decision::Deny,
            KeyCode::Char('c') => Decision::Cancel,
            _ => continue,
        };
        let Some(hold) = holds.get(selected) else { continue };
        // Leave the full-screen view to ask for the token (and a reason) on the terminal.
        ratatui::restore();
        message = decide(home, hold, decision);
        terminal = ratatui::try_init()?;
    };
    ratatui::restore();
    outcome
}

fn decide(home: &Home, hold: &Hold, decision: Decision) -> String {
    println!("\nhold {}: {}\nwhy: {}", hold.id, hold.summary, hold.reason);
    let note = match decision {
        Decision::Deny => {
            print!("reason for denying: ");
            let _ = std::io::Write::flush(&mut std::io::stdout());
            let mut line = String::new();
            let _ = std::io::stdin().read_line(&mut line);
            Some(line.trim().to_owned()).filter(|l| !l.is_empty()).or(Some("denied from holdpoint watch".into()))
        }
        Decision::Approve | Decision::Cancel => None,
    };
    let ask = approvals::Ask { note: note.as_deref(), token_file: None, json: false };
    match approvals::decide(home, &hold.id.to_string(), decision, ask) {
        Ok(_) => format!("hold {}: {} done", hold.id, decision.as_str()),
        Err(e) => format!("hold {}: {e:#}", hold.id),
    }
}

/// The whole view: the list of holds, the selected one in full, and the keys.
pub fn render(frame: &mut Frame<'_>, holds: &[Hold], selected: usize, message: &str, now: u64) {
    let [list, detail, footer] =
        Layout::vertical([Constraint::Percentage(55), Constraint::Min(5), Constraint::Length(1)]).areas(frame.area());
    let rows = holds.iter().map(|h| {
        Row::new(vec![
            h.id.to_string(),
            h.channel.as_str().to_owned(),
            h.summary.clone(),
            format!("{}/{}", h.approvals.len(), h.approvers_needed()),
            timer(h, now),
        ])
    });
    let widths = [
        Constraint::Length(5),
        Constraint::Length(6),
        Constraint::Fill(1),
        Constraint::Length(9),
        Constraint::Length(22),
    ];
    let title = format!(" Holdpoint: {} hold{} waiting ", holds.len(), if holds.len() == 1 { "" } else { "s" });
    let table = Table::new(rows, widths)
        .header(
            Row::new(vec!["id", "via", "action", "approvals", "timer"])
                .style(Style::new().add_modifier(Modifier::BOLD)),
        )
        .block(Block::new().borders(Borders::ALL).title(title))
        .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED));
    let mut state = TableState::default().with_selected((!holds.is_empty()).then_some(selected));
    frame.render_stateful_widget(table, list, &mut state);
    let text = match holds.get(selected) {
        Some(h) => vec![
            Line::from(format!("action: {}", h.summary)),
            Line::from(format!("why:    {}", h.reason)),
            Line::from(format!(
                "needs:  {} approver{}, cool-off {} s; approved by: {}",
                h.approvers_needed(),
                if h.approvers_needed() == 1 { "" } else { "s" },
                h.obligations.delay_secs,
                if h.approvals.is_empty() {
                    "nobody yet".into()
                } else {
                    h.approvals.iter().map(|a| a.approver.clone()).collect::<Vec<_>>().join(", ")
                }
            )),
            Line::from(format!("digest: {}", h.digest)),
        ],
        None => vec![Line::from("Nothing is waiting. Held actions appear here as agents try them.")],
    };
    frame.render_widget(
        Paragraph::new(text).wrap(Wrap { trim: false }).block(Block::new().borders(Borders::ALL).title(" selected ")),
        detail,
    );
    frame.render_widget(Paragraph::new(message.to_owned()), footer);
}

/// What the hold waits for, as a countdown.
fn timer(h: &Hold, now: u64) -> String {
    match (h.state, h.release_at) {
        (HoldState::Approved, Some(at)) if at > now => format!("releases in {}", clock(at - now)),
        (HoldState::Released, _) => "released".into(),
        _ if h.expires > now => format!("expires in {}", clock(h.expires - now)),
        _ => h.state.as_str().into(),
    }
}

fn clock(secs: u64) -> String {
    format!("{}:{:02}", secs / 60, secs % 60)
}

#[cfg(test)]
mod tests {
    use holdpoint_core::{ActionDigest, Channel, Obligations};
    use holdpoint_store::{Approval, Hold, HoldId, HoldState};
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    fn hold(id: u64, summary: &str, state: HoldState, release_at: Option<u64>) -> Hold {
        Hold {
            id: HoldId::new(id).unwrap(),
            digest: ActionDigest::of(Channel::Shell, "/w", "", summary),
            channel: Channel::Shell,
            summary: summary.into(),
            reason: "it deletes files outside the workspace".into(),
            action_json: "{}".into(),
            obligations: Obligations { approvers: 2, delay_secs: 600, ttl_secs: 3600, soft_delete: false },
            state,
            created: 1_000,
            expires: 4_600,
            approvals: vec![Approval { approver: "alice".into(), time: 1_010 }],
            release_at,
            sealed: true,
        }
    }

    fn screen(holds: &[Hold]) -> String {
        let mut terminal = Terminal::new(TestBackend::new(100, 24)).unwrap();
        terminal.draw(|f| super::render(f, holds, 0, "a approve", 1_100)).unwrap();
        let buffer = terminal.backend().buffer().clone();
        (0..buffer.area.height)
            .map(|y| (0..buffer.area.width).map(|x| buffer[(x, y)].symbol().to_owned()).collect::<String>())
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn the_view_shows_each_hold_with_its_action_approvals_and_countdown() {
        let text = screen(&[
            hold(2, "rm -rf /var/lib/app/data", HoldState::Pending, None),
            hold(1, "terraform destroy -auto-approve", HoldState::Approved, Some(1_400)),
        ]);
        assert!(text.contains("2 holds waiting"), "{text}");
        assert!(text.contains("rm -rf /var/lib/app/data"), "{text}");
        assert!(text.contains("terraform destroy -auto-approve"));
        assert!(text.contains("1/2"), "approvals so far / needed");
        assert!(text.contains("expires in 58:20"), "{text}");
        assert!(text.contains("releases in 5:00"), "{text}");
        assert!(text.contains("approved by: alice"));
    }

    #[test]
    fn an_empty_queue_says_so() {
        assert!(screen(&[]).contains("Nothing is waiting"));
    }
}
