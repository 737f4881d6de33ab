//! Deployment status as `calculateStatus` and `syncRolloutStatus` compute it: counts from the
//! ReplicaSets' pods, `Available`, and `Progressing` with its deadline.
use super::controller::Controller;
use super::model::{DStatus, Deploy, Key};
use super::rollout::{Condition, get_condition, set_condition};
use super::sync::{complete, progressing};

impl Controller {
    /// The status the Deployment should have now, starting from conditions `conds`.
    pub(super) fn compute_status(
        &self,
        d: &Deploy,
        new_key: Option<&Key>,
        conds: Vec<Condition>,
        max_unavailable: i32,
        now_s: i64,
    ) -> DStatus {
        let (replicas, paused, deadline) = (d.replicas, d.paused, d.deadline_s);
        let mut st = DStatus {
            observed_generation: d.generation,
            conditions: conds,
            ..DStatus::default()
        };
        let mut total_spec = 0;
        for k in d.rs.iter() {
            let (a, r, av) = self.rs_counts(k);
            st.replicas += a;
            st.ready += r;
            st.available += av;
            total_spec += self.rss.get(k).map(|r| r.replicas).unwrap_or(0);
        }
        if let Some(nk) = new_key {
            st.updated = self.rs_counts(nk).0;
        }
        st.unavailable = (total_spec - st.available).max(0);
        if st.available >= replicas - max_unavailable {
            set_condition(
                &mut st.conditions,
                Condition::new(
                    "Available",
                    "True",
                    "MinimumReplicasAvailable",
                    "Deployment has minimum availability.".into(),
                    now_s,
                ),
            );
        } else {
            set_condition(
                &mut st.conditions,
                Condition::new(
                    "Available",
                    "False",
                    "MinimumReplicasUnavailable",
                    "Deployment does not have minimum availability.".into(),
                    now_s,
                ),
            );
        }
        let new_name = new_key
            .and_then(|k| self.rss.get(k))
            .map(|r| r.name.clone());
        let subject = match &new_name {
            Some(n) => format!("ReplicaSet \"{n}\""),
            None => format!("Deployment \"{}\"", d.name),
        };
        if !paused {
            match deadline {
                None => st.conditions.retain(|c| c.type_ != "Progressing"),
                Some(secs) => {
                    let cur = get_condition(&st.conditions, "Progressing").cloned();
                    let is_complete = st.replicas == st.updated
                        && cur
                            .as_ref()
                            .is_some_and(|c| c.reason == "NewReplicaSetAvailable");
                    let old = &d.status;
                    let progressed = st.updated > old.updated
                        || (st.replicas - st.updated) < (old.replicas - old.updated)
                        || st.ready > old.ready
                        || st.available > old.available;
                    if !is_complete {
                        if complete(d, &st) {
                            let msg = format!("{subject} has successfully progressed.");
                            set_condition(
                                &mut st.conditions,
                                progressing("NewReplicaSetAvailable", "True", msg, now_s),
                            );
                        } else if progressed {
                            let mut c = progressing(
                                "ReplicaSetUpdated",
                                "True",
                                format!("{subject} is progressing."),
                                now_s,
                            );
                            if let Some(cur) = &cur
                                && cur.status == "True"
                            {
                                c.last_transition = cur.last_transition;
                            }
                            st.conditions.retain(|c| c.type_ != "Progressing");
                            st.conditions.push(c);
                        } else if let Some(cur) = &cur
                            && cur.reason != "NewReplicaSetAvailable"
                            && (cur.reason == "ProgressDeadlineExceeded"
                                || cur.last_update + secs < now_s)
                        {
                            let msg = format!("{subject} has timed out progressing.");
                            set_condition(
                                &mut st.conditions,
                                progressing("ProgressDeadlineExceeded", "False", msg, now_s),
                            );
                        }
                    }
                }
            }
        }
        st
    }
}
