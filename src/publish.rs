//! `herald publish`: one message through a running herald's backend API, for scripts and
//! cron jobs. The key comes from `HERALD_API_KEY` (or `--key`), never printed.

use std::io::Read;
use std::process::ExitCode;

use serde_json::value::RawValue;

/// How long a script waits for herald before giving up, rather than hanging a cron job.
const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Publishes one message through the backend API.
#[derive(Debug, clap::Args)]
pub struct Publish {
    /// The herald to publish through.
    #[arg(long, env = "HERALD_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// An API key.
    #[arg(long, env = "HERALD_API_KEY", hide_env_values = true)]
    key: String,
    /// Deliver to this user's sessions only, rather than to the channel's subscribers.
    #[arg(long)]
    user: Option<String>,
    /// The channel.
    channel: String,
    /// The message's data, as JSON; `-` reads it from standard input.
    data: String,
}

impl Publish {
    /// Sends it and prints the answer: `{"reached": n}`.
    pub async fn run(self) -> ExitCode {
        match self.send().await {
            Ok(answer) => {
                println!("{answer}");
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("herald publish: {error}");
                ExitCode::FAILURE
            }
        }
    }

    async fn send(self) -> Result<String, String> {
        let mut data = self.data;
        if data == "-" {
            data.clear();
            std::io::stdin()
                .read_to_string(&mut data)
                .map_err(|error| format!("cannot read standard input: {error}"))?;
        }
        let data = RawValue::from_string(data.trim().to_owned())
            .map_err(|error| format!("the data is not JSON: {error}"))?;
        let body = serde_json::json!({ "channel": self.channel, "data": data, "user": self.user });
        let url = format!("{}/api/publish", self.url.trim_end_matches('/'));
        let response = reqwest::Client::new()
            .post(&url)
            .timeout(TIMEOUT)
            .bearer_auth(&self.key)
            .json(&body)
            .send()
            .await
            .map_err(|error| format!("cannot reach {url}: {}", error.without_url()))?;
        let status = response.status();
        let text = response.text().await.map_err(|error| error.to_string())?;
        match status.is_success() {
            true => Ok(text),
            false => Err(format!("{status}: {text}")),
        }
    }
}
